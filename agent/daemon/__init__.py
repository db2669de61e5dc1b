"""The long-running agent (`dropwarden run`): composition root, settings, workers, outcome handling.

Only this package and :mod:`agent.pipeline` know every stage; the stages never import it.
"""
