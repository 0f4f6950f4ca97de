"""Importing the student list and the catalog from the files schools have."""
