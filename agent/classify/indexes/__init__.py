"""Exact data match and document fingerprints: keyed indexes of the customer's own data and documents.

Built offline by `dropwarden protect` (:mod:`.protect`), stored as signed index files (:mod:`.indexfile`)
and plugged into the classifier as ``ChunkDetector``s.
"""
