"""Simulated communities built from real data: household profiles for the market and the meters."""
