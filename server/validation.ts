import { z } from "zod";

/**
 * Control characters (C0, DEL, C1) and lone UTF-16 surrogates: PostgreSQL refuses NUL in text
 * and a lone surrogate cannot be stored as UTF-8, and neither belongs in a name. Multi-line text
 * may keep `\n` and `\t`.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const controlOrLoneSurrogate = /[\u0000-\u001F\u007F-\u009F\p{Cs}]/u;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const controlOrLoneSurrogateMultiline = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\p{Cs}]/u;

const noControl = (value: string) => !controlOrLoneSurrogate.test(value);
const noControlMessage = "must not contain control characters";

/** A single line of text from a person: no control characters, no lone surrogates. */
export const lineField = () => z.string().refine(noControl, noControlMessage);

/** A display name, project name or task title: 1–200 characters after trimming. */
export const nameField = lineField().trim().min(1, "must not be empty").max(200);

export const idField = z.uuid();

/** Multi-line text (a description): newlines and tabs allowed, other control characters not. */
export const descriptionField = z
  .string()
  .refine(
    (value) => !controlOrLoneSurrogateMultiline.test(value),
    "must not contain control characters other than newlines and tabs",
  )
  .trim()
  .max(5000);

/** A comment: multi-line text (newlines and tabs), 1–10,000 characters after trimming. */
export const commentField = z
  .string()
  .refine(
    (value) => !controlOrLoneSurrogateMultiline.test(value),
    "must not contain control characters other than newlines and tabs",
  )
  .trim()
  .min(1, "must not be empty")
  .max(10_000);

export const emailField = lineField().trim().toLowerCase().pipe(z.email()).pipe(z.string().max(254));

export const passwordField = lineField().min(12, "must be at least 12 characters").max(256);

export const slugField = z
  .string()
  .trim()
  .toLowerCase()
  .min(3)
  .max(40)
  .regex(
    /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/,
    "letters, digits and hyphens, starting and ending with a letter or digit",
  );
