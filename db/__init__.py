"""Models, engine and repositories: the only package that speaks SQL."""
