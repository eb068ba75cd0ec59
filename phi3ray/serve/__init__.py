"""phi3ray.serve"""
