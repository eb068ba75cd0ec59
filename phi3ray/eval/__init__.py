"""phi3ray.eval"""
