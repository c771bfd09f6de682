-- 随访任务增加拨打次数与通话时长 Add call attempts and call duration to follow-up tasks (release 1.2.0)
ALTER TABLE followup_tasks
  ADD COLUMN attempts INT NOT NULL DEFAULT 0 COMMENT '拨打次数' AFTER call_result,
  ADD COLUMN call_duration_seconds INT NULL COMMENT '最近一次通话时长（秒）' AFTER attempts;
