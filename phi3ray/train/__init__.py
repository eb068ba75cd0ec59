"""phi3ray.train"""
