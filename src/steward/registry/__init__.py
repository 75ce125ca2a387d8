"""The governance registry: organisations, people, tools and the rules that govern them.

Domain rules here are plain Python over SQLAlchemy models, testable without a web server.
"""
