"""Linear stability theory of parallel stratified shear flows (:mod:`.stability`)."""
