"""Value types every room shares: points and run events, alerts, canonical metric keys.

Imports nothing of the project, so every other package may import it.
"""
