"""cockpit.cli"""
