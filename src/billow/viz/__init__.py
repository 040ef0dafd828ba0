"""Figures (matplotlib, optional extra ``billow[viz]``)."""
