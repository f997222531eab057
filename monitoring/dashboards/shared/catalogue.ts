// The four dashboards: file name (charts/imcloud/files/dashboards/<file>.json), uid and title.
// The uids are what bookmarks and links use: never change one (test/unit/dashboards-and-alerts.test.ts pins them).

export interface DashboardRef {
  file: string;
  uid: string;
  title: string;
}

export const OVERVIEW: DashboardRef = { file: 'overview', uid: 'imcloud-overview', title: 'imcloud / overview' };
export const TENANT: DashboardRef = { file: 'tenant', uid: 'imcloud-tenant', title: 'imcloud / tenant' };
export const BUS_AND_STORAGE: DashboardRef = {
  file: 'bus-and-storage',
  uid: 'imcloud-bus-and-storage',
  title: 'imcloud / bus and storage',
};
export const OPERATOR: DashboardRef = { file: 'operator', uid: 'imcloud-operator', title: 'imcloud / operator' };

/** In the order of the links at the top of every dashboard. */
export const CATALOGUE: readonly DashboardRef[] = [OVERVIEW, TENANT, BUS_AND_STORAGE, OPERATOR];
