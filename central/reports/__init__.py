"""The library's reports (书香班级, 好书排行榜, 新书通报, 册次/人次, the year-end summary): services, exports, charts."""
