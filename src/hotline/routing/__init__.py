"""Departments and the routing rules that send each ticket to one at intake."""
