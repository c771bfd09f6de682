"""语音外呼程序 The voice program (stand-in): places follow-up calls as SIP dialogues and records them in cdr."""

SERVICE = "followup-voice"
