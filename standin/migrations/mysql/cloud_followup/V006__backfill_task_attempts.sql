-- 已拨打过的任务拨打次数记为 1 Count one attempt for tasks that already have a call (release 1.2.0; safe to repeat)
UPDATE followup_tasks
   SET attempts = 1
 WHERE call_id IS NOT NULL
   AND attempts = 0;
