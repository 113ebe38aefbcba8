"""Folium maps built from :mod:`geo` results: the planner's coverage map and the workers' finder map."""
