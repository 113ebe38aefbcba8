"""Siting: where the next stations should go (candidates, sparse coverage sets, MCLP, set covering)."""
