"""Twilio webhook routes."""
