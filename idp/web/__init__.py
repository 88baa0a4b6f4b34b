"""Blueprints: pages and APIs. Views parse, call one service, render or redirect."""
