"""Streamlit pages of the review app (wired by app.py); shared helpers in state.py."""
