namespace Usine.Server.Ui.Shared;

/// <summary>One line of a <see cref="LineChart"/>: its name, its colour class and its points in time order.</summary>
public sealed record ChartSeries(string Name, string CssClass, IReadOnlyList<MeasurePoint> Points);
