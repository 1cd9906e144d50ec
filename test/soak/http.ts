export interface HttpSoakReport { failures: string[] }
export async function runHttpSoak(_o: { seed: string; requests: number; log: (l: string) => void }): Promise<HttpSoakReport> { return { failures: [] }; }
export function formatHttpReport(_r: HttpSoakReport): string { return ''; }
