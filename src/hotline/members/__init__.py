"""Party members (党员): skills, availability, the orders they hold, service points (服务积分)."""
