"""Data: downloads and their verification, archive readers, preprocessing, synthetic demo data."""
