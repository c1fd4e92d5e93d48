"""cockpit.triage"""
