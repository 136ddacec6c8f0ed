import { z } from "zod";

/** A display name, project name or task title: 1–200 characters after trimming. */
export const nameField = z.string().trim().min(1, "must not be empty").max(200);

export const idField = z.uuid();

export const descriptionField = z.string().trim().max(5000);

export const emailField = z.string().trim().toLowerCase().pipe(z.email()).pipe(z.string().max(254));

export const passwordField = z.string().min(12, "must be at least 12 characters").max(256);

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
