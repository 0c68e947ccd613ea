"""The picture side of SnapShop: preparing photos, embedding them, re-ranking.

Pure Python + numpy + onnxruntime; no Django imports, no database.
"""
