// Text for an HTML attribute value in the webviews' HTML shells (dashboard, rollout table, compare).
export const attr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
