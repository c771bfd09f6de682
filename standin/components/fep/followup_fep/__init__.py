"""接口服务 The interface service (stand-in): exchanges records between interface_data and the application."""

SERVICE = "followup-fep"
