-- 按中文状态回填状态编码 Backfill the status code from the Chinese status text (release 1.1.0; safe to repeat)
UPDATE followup_tasks
   SET status_code = CASE status
                       WHEN '待随访' THEN 'pending'
                       WHEN '已完成' THEN 'completed'
                       WHEN '失败' THEN 'failed'
                       ELSE 'pending'
                     END
 WHERE status_code IS NULL;
