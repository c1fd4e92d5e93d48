"""cockpit.ingest"""
