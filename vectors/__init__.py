"""Vector stores behind one small interface (see vectors.base.Store)."""
