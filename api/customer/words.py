"""What the customer page says, Chinese first (zh-CN is the default), English by choice."""

from __future__ import annotations

from domain.case import Stage

WORDS: dict[str, tuple[str, str]] = {
    "title": ("售后服务", "After-sales service"),
    "case": ("服务单号", "Case number"),
    "status": ("当前进度", "Status"),
    "promised": ("我们承诺在此之前回复您", "We will get back to you by"),
    "handler": ("处理人", "Handled by"),
    "question": ("我们的问题", "Our question"),
    "other_lang": ("English", "中文"),
    "survey_title": ("请为本次服务打分", "How satisfied are you with our service?"),
    "score": ("评分（1 = 很不满意，5 = 非常满意）", "Score (1 = very dissatisfied, 5 = very satisfied)"),
    "comment": ("留言（选填）", "Comment (optional)"),
    "send": ("提交", "Send"),
    "fix_title": ("问题解决后是否一直正常？", "Did the fix hold?"),
    "held_yes": ("是，一切正常", "Yes, all is well"),
    "held_no": ("否，问题又出现了", "No, the problem is back"),
    "reply_title": ("补充信息", "Your answer"),
    "reply_text": ("您的回复", "Your reply"),
    "files": ("照片或短视频（选填，最多 5 个）", "Photos or a short video (optional, up to 5)"),
    "files_hint": (
        "支持 JPEG、PNG、WebP 照片和 MP4、MOV、WebM 视频",
        "JPEG, PNG or WebP photos; MP4, MOV or WebM videos",
    ),
    "thanks": ("已收到您的回复，谢谢！", "We have received your answer. Thank you!"),
    "already": ("此链接的回复已经收到，无需再次提交。", "The answer from this link was received already."),
    "busy": ("您的回复正在处理，请稍后刷新页面。", "Your answer is being processed; reload the page in a moment."),
    "not_now": (
        "此问题目前无法在线回答，请致电客服热线 {hotline}。",
        "This can no longer be answered here; please call our hotline {hotline}.",
    ),
    "expired": (
        "此链接已过期。如需帮助，请致电客服热线 {hotline}。",
        "This link has expired. For help, please call our hotline {hotline}.",
    ),
    "invalid": (
        "链接无效，请检查短信或邮件中的完整链接。",
        "This link is not valid; please check you opened the whole link from the message.",
    ),
    "no_case": (
        "找不到此服务单。如需帮助，请致电客服热线 {hotline}。",
        "We cannot find this case. For help, please call our hotline {hotline}.",
    ),
    "unavailable": ("服务暂时繁忙，请稍后再试。", "The service is busy; please try again in a moment."),
    "form_expired": (
        "页面已失效，请重新打开链接后再提交。",
        "This form is no longer valid; please open the link again and resend.",
    ),
    "bad_score": ("请选择 1 到 5 分。", "Please choose a score from 1 to 5."),
    "bad_held": ("请选择“是”或“否”。", "Please choose yes or no."),
    "bad_text": (
        "请填写回复（最多 {limit} 字，不含控制字符）。",
        "Please write your reply (at most {limit} characters, no control characters).",
    ),
    "bad_comment": (
        "留言最多 {limit} 字，且不能包含控制字符。",
        "The comment may have at most {limit} characters and no control characters.",
    ),
    "too_large": (
        "第 {n} 个文件太大（照片最大 {image}，视频最大 {video}），未保存任何文件。",
        "File {n} is too large (photos up to {image}, videos up to {video}); nothing was kept.",
    ),
    "unsupported_type": (
        "第 {n} 个文件不是支持的照片或视频，未保存任何文件。",
        "File {n} is not a photo or video we accept; nothing was kept.",
    ),
    "infected": (
        "第 {n} 个文件未通过安全检查，未保存任何文件。",
        "File {n} did not pass the safety check; nothing was kept.",
    ),
    "empty": ("第 {n} 个文件是空的，未保存任何文件。", "File {n} is empty; nothing was kept."),
    "too_many": ("最多上传 5 个文件，未保存任何文件。", "Up to 5 files at a time; nothing was kept."),
}

STAGES: dict[Stage, tuple[str, str]] = {
    Stage.RECEIVED: ("我们已收到您的问题，正在安排处理。", "We have received your case and are arranging it."),
    Stage.TRIAGED: ("已转给负责的部门，即将开始处理。", "It is with the team responsible and will be handled shortly."),
    Stage.IN_HANDLING: ("正在处理中。", "We are working on it."),
    Stage.AWAITING_CUSTOMER: ("正在等待您补充信息。", "We are waiting for information from you."),
    Stage.PLAN_PROPOSED: ("解决方案正在审核。", "A solution is being approved."),
    Stage.EXECUTING: ("解决方案正在执行。", "The solution is being carried out."),
    Stage.AWAITING_FEEDBACK: ("已处理完毕，期待您的评价。", "It is done; we would like your rating."),
    Stage.CLOSED: ("已结案，感谢您的耐心。", "It is closed. Thank you for your patience."),
    Stage.REOPENED: ("已重新打开，我们会再次处理。", "It is reopened; we are looking at it again."),
    Stage.WITHDRAWN: ("已撤销。", "It was withdrawn."),
    Stage.ARCHIVED: ("已结案，感谢您的耐心。", "It is closed. Thank you for your patience."),
}


def say(key: str, english: bool, **values: object) -> str:
    return WORDS[key][1 if english else 0].format(**values)
