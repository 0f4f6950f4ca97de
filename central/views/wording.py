"""What the console says about signing in and its forms, Chinese first, in one place."""

from __future__ import annotations

# Form validation.
USERNAME_REQUIRED = "请输入用户名 · Enter your user name."
PASSWORD_REQUIRED = "请输入密码 · Enter your password."
TOO_LONG = "太长了 · Too long."

# Signing in.
WRONG_CREDENTIALS = "用户名或密码不对 · Wrong user name or password."
SIGNED_OUT = "已退出登录 · You are signed out."
SESSION_ENDED = "登录已过期或已被结束，请重新登录 · Your session ended: please sign in again."


def too_many_attempts(wait_s: int) -> str:
    """The sign-in page's answer while failures are throttled; says how long to wait."""
    minutes = max(1, round(wait_s / 60))
    return (
        f"登录失败次数太多，请 {minutes} 分钟后再试 · "
        f"Too many failed sign-ins: try again in {minutes} minute{'s' if minutes > 1 else ''}."
    )


# A form that failed its CSRF check (Flask-WTF's reason → what the librarian can do).
FORM_REFUSED_TITLE = "表单已失效 · This form has expired"
FORM_REFUSED_HINT = (
    "请返回上一页，刷新后再提交一次 · Go back, reload the page and submit the form again."
)
CSRF_REASONS = {
    "The CSRF token is missing.": "表单缺少安全令牌 · The form's security token is missing.",
    "The CSRF session token is missing.": (
        "浏览器没有送回登录会话（可能禁用了 Cookie）· The browser sent no session cookie "
        "(are cookies blocked?)."
    ),
    "The CSRF token has expired.": "页面打开太久了 · The page was open too long.",
    "The CSRF token is invalid.": "安全令牌不对 · The form's security token is not valid.",
    "The CSRF tokens do not match.": (
        "安全令牌与登录会话不符 · The form's security token does not match your session."
    ),
}
CSRF_REASON_OTHER = "请求来源无法确认 · Where the form came from could not be checked."


# Importing a roster or catalogue in the console.
IMPORT_KIND_REQUIRED = "请选择文件内容 · Choose what the file holds."
IMPORT_FILE_REQUIRED = "请选择要上传的文件 · Choose a file to upload."
IMPORT_UPLOAD_GONE = (
    "找不到上传的文件，请重新上传 · The uploaded file is gone (already imported, or the server "
    "restarted): upload it again."
)


def import_file_too_big(max_bytes: int) -> str:
    """The upload form's answer to a file over the limit; says the limit and the way round it."""
    mb = max_bytes // (1024 * 1024)
    return (
        f"文件超过 {mb} MB，请分成几个文件上传，或在服务器上用命令行导入 · The file is larger "
        f"than {mb} MB: split it, or import it on the server with run_kiosk.py import-… --central."
    )
