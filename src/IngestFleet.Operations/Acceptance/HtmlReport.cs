using System.Net;
using System.Text;

namespace IngestFleet.Operations.Acceptance;

/// <summary>The few HTML pieces the soak and acceptance pages share: self-contained, no scripts, no external assets.</summary>
public static class HtmlReport
{
    public const string Tail = "</body></html>\n";

    public static string Head(string title) =>
        $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{WebUtility.HtmlEncode(title)}</title><style>" +
        "body{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse;margin:1em 0}" +
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}.pass{color:#070}.fail{color:#b00;font-weight:bold}" +
        $"img{{max-width:100%}}</style></head><body><h1>{WebUtility.HtmlEncode(title)}</h1>\n";

    public static string Table(IReadOnlyList<string> header, IReadOnlyList<IReadOnlyList<string>> rows, Func<int, int, string?>? cellClass = null)
    {
        var sb = new StringBuilder("<table><tr>");
        foreach (var h in header) sb.Append("<th>").Append(WebUtility.HtmlEncode(h)).Append("</th>");
        sb.Append("</tr>\n");
        for (var r = 0; r < rows.Count; r++)
        {
            sb.Append("<tr>");
            for (var c = 0; c < rows[r].Count; c++)
            {
                var cls = cellClass?.Invoke(r, c);
                sb.Append(cls is null ? "<td>" : $"<td class=\"{cls}\">").Append(WebUtility.HtmlEncode(rows[r][c])).Append("</td>");
            }
            sb.Append("</tr>\n");
        }
        return sb.Append("</table>\n").ToString();
    }
}
