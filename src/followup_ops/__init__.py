"""followup-ops: operations of the hospital's patient follow-up system (人工智能医院随访系统)."""

__version__ = "0.1.0"
