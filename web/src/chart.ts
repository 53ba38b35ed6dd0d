import { CategoryScale, Chart, LinearScale, Tooltip } from 'chart.js';
import { BarWithErrorBar, BarWithErrorBarsController } from 'chartjs-chart-error-bars';

Chart.register(BarWithErrorBarsController, BarWithErrorBar, CategoryScale, LinearScale, Tooltip);

export interface Bar {
  readonly label: string;
  readonly value: number | null;
  /** A DP value's interval: drawn as error bars. */
  readonly low?: number;
  readonly high?: number;
}

/** One bar per group on the canvas; returns what removes the chart. Bars are outlined so they read without colour. */
export function drawBars(canvas: HTMLCanvasElement, name: string, bars: readonly Bar[]): () => void {
  const chart = new Chart(canvas, {
    type: BarWithErrorBarsController.id,
    data: {
      labels: bars.map((b) => b.label),
      datasets: [
        {
          label: name,
          data: bars.map((b) => (b.low === undefined ? { y: b.value ?? 0 } : { y: b.value ?? 0, yMin: b.low, yMax: b.high ?? b.low })),
          backgroundColor: '#9ab8d8',
          borderColor: '#1d3b5c',
          borderWidth: 2,
          errorBarColor: '#000000',
          errorBarWhiskerColor: '#000000',
          errorBarLineWidth: 2,
          errorBarWhiskerLineWidth: 2,
        },
      ],
    },
    options: {
      // Drawn at once: a person reads the numbers, and a screenshot shows them, without waiting for an animation.
      animation: false,
      maintainAspectRatio: false,
      // Room above the highest whisker, so that no interval ends at the chart's edge.
      scales: { y: { beginAtZero: true, grace: '5%', title: { display: true, text: name } } },
      plugins: { tooltip: { enabled: true } },
    },
  });
  return () => chart.destroy();
}
