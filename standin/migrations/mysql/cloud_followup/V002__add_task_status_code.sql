-- 随访任务增加英文状态编码列 Add a status code column to follow-up tasks (release 1.1.0)
-- Nullable at first so that V003 can fill it; V004 makes it required.
ALTER TABLE followup_tasks
  ADD COLUMN status_code VARCHAR(16) NULL COMMENT '状态编码 pending/completed/failed' AFTER status,
  ADD KEY ix_followup_tasks_status_code_due (status_code, due_date);
