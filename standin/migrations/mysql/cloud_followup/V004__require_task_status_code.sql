-- 状态编码改为必填 Make the task status code required (release 1.1.0)
ALTER TABLE followup_tasks
  MODIFY COLUMN status_code VARCHAR(16) NOT NULL DEFAULT 'pending' COMMENT '状态编码 pending/completed/failed';
