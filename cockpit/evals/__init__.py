"""cockpit.evals"""
