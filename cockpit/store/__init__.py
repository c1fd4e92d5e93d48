"""cockpit.store"""
