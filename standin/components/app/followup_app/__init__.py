"""随访应用服务 The follow-up application (stand-in): HTTP JSON API over cloud_followup (MySQL) and cdr (MongoDB)."""

SERVICE = "followup-app"
