"""cockpit.health"""
