/**
 * The mail Bulkhead sends: plain text plus simple HTML, with the product's name and the action
 * link built from APP_URL.
 */
import type { AppConfig } from "../config.js";
import type { Mail } from "./outbox.js";

const escapeHtml = (value: string) => value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Characters of a name (a person's, a workspace's) that mail shows; a longer one ends in "…". */
export const mailNameLength = 60;

/**
 * A name as mail shows it: anyone can register a workspace with a stranger's email as its owner,
 * so a name written to say something else is cut short, in the subject and the body alike.
 */
export function shown(name: string): string {
  const plain = name.replace(/\s+/g, " ").trim();
  const chars = [...plain];
  return chars.length > mailNameLength
    ? `${chars
        .slice(0, mailNameLength - 1)
        .join("")
        .trimEnd()}…`
    : plain;
}

function compose(
  config: AppConfig["mail"],
  to: string,
  subject: string,
  lines: string[],
  action?: { label: string; link: string },
): Mail {
  const text = [...lines, ...(action ? ["", `${action.label}: ${action.link}`] : []), "", `— ${config.appName}`].join(
    "\n",
  );
  const paragraphs = lines.filter(Boolean).map((line) => `<p>${escapeHtml(line)}</p>`);
  const button = action
    ? `<p><a href="${escapeHtml(action.link)}" style="display:inline-block;padding:10px 16px;background:#2f5bea;color:#fff;border-radius:8px;text-decoration:none">${escapeHtml(action.label)}</a></p><p style="color:#5c677d;font-size:13px">Or open this link: ${escapeHtml(action.link)}</p>`
    : "";
  const html = `<!doctype html><html><body style="font-family:system-ui,sans-serif;color:#14213d;max-width:560px">${paragraphs.join("")}${button}<p style="color:#5c677d">— ${escapeHtml(config.appName)}</p></body></html>`;
  return { to, subject: `${subject} — ${config.appName}`, text, html, ...(action ? { link: action.link } : {}) };
}

export function passwordResetMail(
  config: AppConfig["mail"],
  to: { email: string; name: string },
  workspace: string,
  token: string,
  minutes: number,
): Mail {
  const link = `${config.appUrl}/reset-password?token=${encodeURIComponent(token)}`;
  return compose(
    config,
    to.email,
    "Reset your password",
    [
      `Hello ${shown(to.name)},`,
      `someone asked to reset the password of your account in the ${shown(workspace)} workspace. If it was you, choose a new password within ${minutes} minutes; the link works once.`,
      "If it was not you, ignore this message: your password stays as it is.",
    ],
    { label: "Choose a new password", link },
  );
}

export function passwordChangedMail(
  config: AppConfig["mail"],
  to: { email: string; name: string },
  workspace: string,
  how: "changed" | "reset",
): Mail {
  return compose(config, to.email, "Your password was changed", [
    `Hello ${shown(to.name)},`,
    `the password of your account in the ${shown(workspace)} workspace was just ${how}, and your other sessions were signed out.`,
    "If you did not do this, reset your password now and tell your workspace's admins.",
  ]);
}

export function verificationMail(
  config: AppConfig["mail"],
  to: { email: string; name: string },
  workspace: string,
  token: string,
  hours: number,
): Mail {
  const link = `${config.appUrl}/verify-email?token=${encodeURIComponent(token)}`;
  return compose(
    config,
    to.email,
    "Verify your email address",
    [
      `Hello ${shown(to.name)},`,
      `please confirm that ${to.email} is yours, for your account in the ${shown(workspace)} workspace. The link works once, for ${hours} hours.`,
      "If you did not sign up, ignore this message.",
    ],
    { label: "Verify my email", link },
  );
}

/** To every owner: the workspace's deletion was scheduled (with its date), or called off. */
export function workspaceDeletionMail(
  config: AppConfig["mail"],
  to: { email: string; name: string },
  workspace: string,
  change: { dueAt: Date; by: string } | { cancelledBy: string },
): Mail {
  const link = `${config.appUrl}/account`;
  if ("cancelledBy" in change) {
    return compose(config, to.email, `${shown(workspace)} will not be deleted`, [
      `Hello ${shown(to.name)},`,
      `${shown(change.cancelledBy)} cancelled the deletion of the ${shown(workspace)} workspace. Everything in it stays, and it can be changed again.`,
    ]);
  }
  return compose(
    config,
    to.email,
    `${shown(workspace)} is scheduled for deletion`,
    [
      `Hello ${shown(to.name)},`,
      `${shown(change.by)} scheduled the ${shown(workspace)} workspace for deletion. On ${change.dueAt.toUTCString()} every project, task, comment, member and audit event in it will be erased, for good.`,
      "Until then it can be read and downloaded, not changed, and any owner can cancel the deletion.",
    ],
    { label: "Download the data or cancel", link },
  );
}

/** To every admin and owner: a webhook endpoint was disabled after deliveries died in a row. */
export function webhookDisabledMail(
  config: AppConfig["mail"],
  to: { email: string; name: string },
  host: string,
): Mail {
  const link = `${config.appUrl}/webhooks`;
  return compose(
    config,
    to.email,
    `A webhook endpoint was disabled`,
    [
      `Hello ${shown(to.name)},`,
      `The webhook endpoint at ${shown(host)} did not accept deliveries after every retry, several times in a row, so it was disabled. Nothing more is sent to it until an admin turns it back on.`,
      "Its deliveries, with each answer and error, are on the Webhooks page, where they can be sent again.",
    ],
    { label: "Open the Webhooks page", link },
  );
}

/** A second factor changed: a recovery code was used, or an admin reset the member's factors. */
export function secondFactorMail(
  config: AppConfig["mail"],
  to: { email: string; name: string },
  workspace: string,
  what: { kind: "recovery_code_used"; left: number } | { kind: "reset"; by: string },
): Mail {
  const lines =
    what.kind === "recovery_code_used"
      ? [
          `a recovery code was just used to sign in to your account in the ${shown(workspace)} workspace; ${what.left} of your recovery codes are left.`,
          "If it was not you, change your password and set up two-factor sign-in again now, and tell your workspace's admins.",
        ]
      : [
          `${shown(what.by)}, an admin of the ${shown(workspace)} workspace, reset the two-factor sign-in of your account. You will be asked to set it up again.`,
          "If you did not ask for this, tell your workspace's owner.",
        ];
  const subject = what.kind === "recovery_code_used" ? "A recovery code was used" : "Your two-factor sign-in was reset";
  return compose(config, to.email, subject, [`Hello ${shown(to.name)},`, ...lines]);
}
