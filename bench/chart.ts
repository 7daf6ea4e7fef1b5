/** A grouped bar chart as SVG: one group per label, one bar per series; values are drawn to scale. */
export function barChart(title: string, labels: string[], series: Array<{ name: string; color: string; values: number[] }>, unit: string): string {
  const width = 760;
  const height = 360;
  const left = 60;
  const bottom = 50;
  const top = 50;
  const plotH = height - top - bottom;
  const max = Math.max(...series.flatMap((s) => s.values), 1e-9) * 1.1;
  const groupW = (width - left - 20) / labels.length;
  const barW = (groupW - 20) / series.length;
  const y = (v: number): number => top + plotH - (v / max) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${title}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    parts.push(`<line x1="${left}" x2="${width - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(v) + 4}" text-anchor="end" fill="#555">${v >= 100 ? Math.round(v) : v.toFixed(2)}</text>`);
  }
  parts.push(`<text x="14" y="${top + plotH / 2}" transform="rotate(-90 14 ${top + plotH / 2})" text-anchor="middle" fill="#555">${unit}</text>`);
  labels.forEach((label, g) => {
    const gx = left + 10 + g * groupW;
    series.forEach((s, k) => {
      const v = s.values[g] ?? 0;
      const x = gx + k * barW;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 4).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${s.color}"/>`);
      parts.push(`<text x="${(x + (barW - 4) / 2).toFixed(1)}" y="${(y(v) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${v >= 100 ? Math.round(v) : v.toFixed(2)}</text>`);
    });
    parts.push(`<text x="${(gx + (groupW - 20) / 2).toFixed(1)}" y="${height - bottom + 18}" text-anchor="middle">${label}</text>`);
  });
  series.forEach((s, k) => {
    const lx = left + 10 + k * 170;
    parts.push(`<rect x="${lx}" y="${height - 18}" width="12" height="12" fill="${s.color}"/>`);
    parts.push(`<text x="${lx + 18}" y="${height - 8}">${s.name}</text>`);
  });
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
