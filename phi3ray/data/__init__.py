"""phi3ray.data"""
