"""The dispute ledger (矛盾隐患台账): six kinds, four lists (排查、研判、调解、回访), 销号."""
